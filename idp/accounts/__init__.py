"""The school's account rules: logins, initial passwords, UAI codes, establishment codes."""
