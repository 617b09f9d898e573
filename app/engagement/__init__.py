"""Engagement: daily sign-in streaks, tasks and challenges, teams, badges, referrals, win-back."""
