"""A demo CPRO learning module: a relying party of CPRO Connect built with Authlib's
Starlette client, as a module developer would write one."""
