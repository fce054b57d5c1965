"""Performance estimators: how good is one architecture?"""
