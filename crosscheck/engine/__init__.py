"""Layer 6, engine: fuzz runs and campaigns, profiles and the example database, the results stream,
loading user files, replaying a finding, and the mutant and training runs. No report files here."""
