package redisstore

// ToUnits exposes toUnits to the tests.
var ToUnits = toUnits
