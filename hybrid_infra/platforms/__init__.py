"""Infrastructure per platform, all behind the contract in ``base``."""
