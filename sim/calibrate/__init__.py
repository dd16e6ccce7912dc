"""Fitting a scenario to a service's own records."""
