"""Request and response shapes of the notify service: none yet (it has no HTTP route). What its
routes will validate and answer is added here."""
