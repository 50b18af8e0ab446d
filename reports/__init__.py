"""HTML reports and checkpoint comparison. Arrive with the reports issue."""
