"""Pure rules: what a release may write and what is live, decided with no I/O.

Nothing here sends a request, opens a file, sleeps or imports the registry client, anyio or
Dagger, so every rule is tested directly and read by every verb that needs it.
"""
