"""`evident demo`: a demo cohort of virtual slides from real skin tissue and the cached pipeline over it."""
