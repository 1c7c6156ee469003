"""Keel: a warehouse-native ML platform."""
