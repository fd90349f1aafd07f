// Dates in mapping and readiness tests are read as UTC, whatever the machine says.
process.env.TZ = 'UTC';
