"""Web accounts: password hashing, browser sessions, CSRF defences and sign-in limits."""
