"""A customer table shaped like the public IBM Telco customer churn CSV (generated, seeded)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = [
    "customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure",
    "PhoneService", "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup",
    "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies", "Contract",
    "PaperlessBilling", "PaymentMethod", "MonthlyCharges", "TotalCharges", "Churn",
]  # fmt: skip


def _letters(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ"), 5))


def write_telco_csv(path: Path, n: int = 1500, seed: int = 7) -> Path:
    """Churn depends on contract, tenure, fibre, charges and payment method, as in the original;
    new customers (tenure 0) have a blank TotalCharges string, as in the original."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        contract = rng.choice(["Month-to-month", "One year", "Two year"], p=[0.55, 0.21, 0.24])
        tenure = int(rng.integers(0, 13) if contract == "Month-to-month" else rng.integers(0, 73))
        internet = rng.choice(["DSL", "Fiber optic", "No"], p=[0.34, 0.44, 0.22])
        payment = rng.choice(
            [
                "Electronic check",
                "Mailed check",
                "Bank transfer (automatic)",
                "Credit card (automatic)",
            ]
        )
        monthly = round(
            float(20 + (50 if internet == "Fiber optic" else 25 if internet == "DSL" else 0))
            + float(rng.normal(0, 8)),
            2,
        )
        logit = (
            -1.8
            + 2.0 * (contract == "Month-to-month")
            - 1.5 * (contract == "Two year")
            - 0.05 * tenure
            + 1.0 * (internet == "Fiber optic")
            + 0.8 * (payment == "Electronic check")
        )
        churn = rng.random() < 1 / (1 + np.exp(-logit))
        no_net = internet == "No"
        addon = ["No internet service"] if no_net else ["Yes", "No"]
        rows.append(
            {
                "customerID": f"{rng.integers(1000, 9999)}-{_letters(rng)}{i}",
                "gender": rng.choice(["Female", "Male"]),
                "SeniorCitizen": int(rng.random() < 0.16),
                "Partner": rng.choice(["Yes", "No"]),
                "Dependents": rng.choice(["Yes", "No"], p=[0.3, 0.7]),
                "tenure": tenure,
                "PhoneService": rng.choice(["Yes", "No"], p=[0.9, 0.1]),
                "MultipleLines": rng.choice(["Yes", "No", "No phone service"]),
                "InternetService": internet,
                **{c: rng.choice(addon) for c in COLUMNS[9:15]},
                "Contract": contract,
                "PaperlessBilling": rng.choice(["Yes", "No"]),
                "PaymentMethod": payment,
                "MonthlyCharges": monthly,
                "TotalCharges": " " if tenure == 0 else f"{monthly * tenure:.2f}",
                "Churn": "Yes" if churn else "No",
            }
        )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
