"""neuralign.analysis"""
