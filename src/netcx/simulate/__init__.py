"""The synthetic telco world with ground truth: CRM, network logs, web traffic, outcomes."""
