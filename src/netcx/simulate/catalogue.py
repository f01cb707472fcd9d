"""The operator's web site as the simulator knows it: pages and searches per latent intent."""

from __future__ import annotations

SITE = "https://www.example-telco.de"
APP = "app://example-telco"

INTENTS = [
    "churn_research",
    "tariff_comparison",
    "upgrade",
    "device_compatibility",
    "roaming",
    "fibre_availability",
    "outage",
    "billing_problem",
]
# Journeys of these intents are "high intent" (decision-worthy; the NPS effect applies).
HIGH_INTENT = {"churn_research", "upgrade", "fibre_availability", "outage", "billing_problem"}

# (path, title) — German first, English under /en/.
PAGES: dict[str, list[tuple[str, str]]] = {
    "churn_research": [
        ("/kuendigen", "Vertrag kündigen"),
        ("/hilfe/kuendigungsfrist", "Kündigungsfrist berechnen"),
        ("/rufnummernmitnahme", "Rufnummernmitnahme zu einem anderen Anbieter"),
        ("/vertrag/laufzeit", "Vertragslaufzeit und Vertragsende"),
        ("/en/cancel", "Cancel your contract"),
        ("/en/number-porting", "Number porting"),
        ("/en/notice-period", "Notice period"),
    ],
    "tariff_comparison": [
        ("/tarife/vergleich", "Tarife vergleichen"),
        ("/tarife/mobilfunk", "Mobilfunktarife"),
        ("/tarife/internet", "Internet-Tarife"),
        ("/en/plans/compare", "Compare plans"),
    ],
    "upgrade": [
        ("/vertragsverlaengerung", "Vertrag verlängern"),
        ("/shop/smartphones", "Smartphones mit Vertrag"),
        ("/tarife/upgrade", "Jetzt upgraden"),
        ("/en/upgrade", "Upgrade your plan"),
        ("/en/shop/phones", "Phones"),
    ],
    "device_compatibility": [
        ("/geraete/esim", "eSIM einrichten"),
        ("/5g-check", "Ist mein Gerät 5G-fähig?"),
        ("/geraete/kompatibilitaet", "Gerätekompatibilität"),
        ("/en/devices/esim", "Set up eSIM"),
        ("/en/5g-check", "5G device check"),
    ],
    "roaming": [
        ("/roaming", "Roaming im Ausland"),
        ("/roaming/eu", "EU-Roaming"),
        ("/roaming/tagespass", "Roaming-Tagespass"),
        ("/en/roaming", "Roaming abroad"),
    ],
    "fibre_availability": [
        ("/glasfaser/verfuegbarkeit", "Glasfaser-Verfügbarkeit prüfen"),
        ("/glasfaser", "Glasfaser für Zuhause"),
        ("/en/fibre", "Fibre broadband"),
        ("/en/fibre/availability", "Check fibre availability"),
    ],
    "outage": [
        ("/stoerung", "Störungsmeldungen"),
        ("/netzstatus", "Netzstatus in Ihrer Region"),
        ("/hilfe/internet-geht-nicht", "Internet funktioniert nicht"),
        ("/en/network-status", "Network status"),
    ],
    "billing_problem": [
        ("/hilfe/rechnung", "Hilfe zur Rechnung"),
        ("/rechnung/einspruch", "Rechnung reklamieren"),
        ("/hilfe/drittanbietersperre", "Drittanbietersperre"),
        ("/en/help/bill", "Help with your bill"),
    ],
}
SEARCHES: dict[str, list[str]] = {
    "churn_research": ["kündigen", "kündigungsfrist", "rufnummer mitnehmen", "cancel contract"],
    "tariff_comparison": ["tarif vergleich", "günstiger tarif", "compare plans"],
    "upgrade": ["vertragsverlängerung", "neues handy", "iphone 16", "upgrade"],
    "device_compatibility": ["esim", "5g handy", "esim iphone"],
    "roaming": ["roaming usa", "roaming schweiz", "roaming kosten"],
    "fibre_availability": ["glasfaser verfügbar", "glasfaser adresse", "fibre availability"],
    "outage": ["störung", "kein internet", "netz weg", "outage"],
    "billing_problem": ["rechnung zu hoch", "rechnung falsch", "drittanbieter", "bill too high"],
}
GENERIC_PAGES: list[tuple[str, str]] = [
    ("/", "Example Telco – Mobilfunk, Internet, TV"),
    ("/angebote", "Aktuelle Angebote"),
    ("/hilfe", "Hilfe und Service"),
    ("/kontakt", "Kontakt"),
    ("/shop/zubehoer", "Zubehör"),
    ("/tv", "TV und Streaming"),
    ("/magazin/tipps", "Magazin: Tipps und Tricks"),
    ("/mein-konto", "Mein Konto"),
    ("/en", "Example Telco – Mobile, broadband, TV"),
    ("/en/help", "Help and support"),
]
GENERIC_SEARCHES = ["kontakt", "hotline", "öffnungszeiten", "zubehör", "tv", "app"]
LOGIN = ("/login", "Anmelden")
REFERRERS = [
    "",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.vergleich.example/",
    "https://mail.example/",
]
USER_AGENTS = {
    "phone": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
    ],
    "app": [
        "ExampleTelcoApp/5.12.0 (iOS 17.4; iPhone15,2)",
        "ExampleTelcoApp/5.12.0 (Android 14; SM-S911B)",
    ],
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ],
    "monitor": ["Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"],
}
