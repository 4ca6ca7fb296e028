"""Small factories per domain: each makes one valid object with unique values."""
