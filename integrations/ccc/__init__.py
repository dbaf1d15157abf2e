"""CCC (China Compulsory Certification): number rules, catalogue, registry adapters, checks."""
