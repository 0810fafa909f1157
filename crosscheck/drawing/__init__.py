"""Layer 4, drawing: what cases are drawn, as Hypothesis strategies and as seeded lists for campaigns."""
