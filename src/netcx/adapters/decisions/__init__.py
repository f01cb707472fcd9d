"""Decision log and CRM-facts adapters."""
