"""Teaching: rubrics, conversation measures and evaluations (feedback) of sessions."""
