"""The provider sandbox: Retell, Vapi, Bland and SendGrid on loopback, close enough to the real services
that their SDKs cannot tell the difference. The keyless local stack and every test talk to it."""
