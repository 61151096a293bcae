"""The first level (SPEC 18): a knowledge base of Markdown answers offered in auto-responses,
`/faq NAME` for agents, and customers closing their own tickets with `/solved`."""
