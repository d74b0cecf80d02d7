"""neuralign.nn"""
