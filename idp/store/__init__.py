"""All SQL lives here: small typed functions, one module per aggregate.

Functions that touch establishment-owned rows take the Establishment and filter through
`tenancy.owned`, so that a row of establishment A cannot be reached through B.
"""
