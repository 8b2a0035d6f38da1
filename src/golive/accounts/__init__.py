"""Web accounts: password hashing, browser sessions and their limits."""
