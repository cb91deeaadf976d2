"""Who is calling and what they may do: identities, the one rule table, and where data may go.

No web framework in here: the HTTP API, the console and the CLI share these rules.
"""
