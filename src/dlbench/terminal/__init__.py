"""What a person at a terminal is shown, below every other layer: whether someone watches and which
job or population member the progress bar names (`watching`), counts in words (`wording`).

Imported by the resolve step, the sweeper and the report before torch is, so it imports nothing heavy.
"""
