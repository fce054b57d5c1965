"""nascli.core"""
