"""Blind human assessment: the ratings store, the stimulus set, the rating flow and the statistics.

No UI code here; ``dashboard/rating_tab.py`` builds the Gradio tabs on top of it.
"""

from srcore.rating.store import DuplicateVoteError, RatingError, RatingStore, default_db_path

__all__ = ["RatingStore", "RatingError", "DuplicateVoteError", "default_db_path"]
