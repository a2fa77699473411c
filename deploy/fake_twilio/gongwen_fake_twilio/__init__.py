"""A fake Twilio: a real HTTP server speaking the parts of Twilio's 2010-04-01 REST API that the
``twilio`` client calls for SMS and voice (Messages and Calls: create, fetch, list), with HTTP basic
auth, Twilio's JSON shapes and errors, signed status callbacks, a per-sender rate limit, faults on
command (``/_control``) and a "phones" page showing what each number received.

Standard library only, so it runs anywhere the suite runs; ``launcher.FakeTwilio`` starts it as a
process for ``make run``, the tests and the benchmarks."""
