"""Hand-written fakes of Azure services at the HTTP boundary, so the real SDK code runs in tests."""
