"""Drop-in endpoints for the platform's legacy call sites: OpenAI's and Gemini's wire formats onto jindan.

Each module holds wire models, pure mapping functions and thin routes; every chat call goes through the app's
one LLM router (fallback, breaker, shadow runs, metrics) and every embedding through the app's embedder. A call
site moves by changing only its SDK's base URL and key. ``common.py`` holds what both wires share.
"""
