"""nascli.benchmarks"""
