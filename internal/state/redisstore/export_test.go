package redisstore

// ToUnits exposes toUnits to the tests.
var ToUnits = toUnits

// FromUnits exposes fromUnits to the tests.
var FromUnits = fromUnits
