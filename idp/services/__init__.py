"""Use cases by aggregate: what the CLI, the admin console, the teacher's page and the
sign-in pages ask for, each deciding who may do what on the unit of work it is given.

    establishments   create, enable and disable an establishment
    accounts         add, edit, deactivate, delete accounts; set and reset passwords
    clients          register and manage client applications (modules)
    imports          bulk import of accounts from a school's file
    sessions         end SSO sessions from the console
    signin           sign-in, SSO sessions, password change
    recovery         forgotten passwords, temporary passwords by email

A use case is `f(rt, session, …)`: it runs on the caller's session (a request's unit of work,
or `Runtime.run` for commands and tests) and never commits, rolls back or opens its own.
"""
