"""Data remotes: where cached objects go to be shared between machines."""
