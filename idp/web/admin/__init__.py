"""`/{code}/admin…`: the establishment's admin console (the UAI login). One module per
page family; every handler goes through `guard.admin` first."""
