"""nascli.trials"""
