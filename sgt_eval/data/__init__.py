"""Fetching and checking the official benchmark files (``sgt-eval data fetch|check``).

``sources`` is the table of pinned sources, ``download`` the HTTP client, ``layout`` what a
benchmark folder holds, ``fetch`` and ``check`` the two commands, ``lock`` the lock file,
``archive`` zip unpacking and ``hallusion_prompt`` the HallusionBench judge-prompt extractor.
"""
