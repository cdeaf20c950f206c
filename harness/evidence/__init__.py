"""What a run leaves behind: the evidence pack, attestations, report diff and the report
writers. Imports the layers below harness.run.
"""
