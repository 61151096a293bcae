"""Customers (SPEC 16): who writes to the helpdesk, from maildesk's own table or from an
organisation's existing directory (a CRM database, LDAP), looked up by mail address."""
