"""nascli.ui"""
