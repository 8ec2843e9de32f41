"""Import of parties, users, orders, bookings, trips and invoices from YAML or JSON files."""
