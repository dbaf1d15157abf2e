"""Who the seller is as a business: its credit code, region and the office that handles it."""
