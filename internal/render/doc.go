// Package render turns DeviceAuthServer and DeviceAuthClient objects into
// what the server runs on: each client's verdict, the server's config file
// and the server's child objects. It is pure, with no API calls, so that the
// manager and the server's standalone mode share one code path.
package render
