"""nascli.nn"""
