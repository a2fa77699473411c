"""Identity service: users, U_Key device keys, sessions and proxies."""
