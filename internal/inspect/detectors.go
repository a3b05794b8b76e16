package inspect

// detID indexes detectors.
type detID uint8

const (
	dAWSAccessKey detID = iota
	dAWSSecretKey
	dGitHubToken
	dGitLabToken
	dSlackToken
	dSlackWebhook
	dStripeKey
	dGoogleAPIKey
	dOpenAIKey
	dAnthropicKey
	dTwilioKey
	dSendGridKey
	dNPMToken
	dPyPIToken
	dAzureStorageKey
	dPrivateKey
	dJWT
	dURLPassword
	dGenericSecret
	dEmail
	dPhone
	dCardNumber
	dIBAN
	dUSSSN
	dUKNINO
	dESDNI
	dITCodiceFiscale
	dNLBSN
	dInjectionPhrase
	dFakeDelimiter
	dUnicodeTags
	dBidiControl
	dZeroWidth
	numDetectors
)

// detectors is the table of detectors. generic marks those that a specific
// match at the same place overrides.
var detectors = [numDetectors]struct {
	name    string
	class   Class
	generic bool
}{
	dAWSAccessKey:    {"aws_access_key", Secret, false},
	dAWSSecretKey:    {"aws_secret_key", Secret, false},
	dGitHubToken:     {"github_token", Secret, false},
	dGitLabToken:     {"gitlab_token", Secret, false},
	dSlackToken:      {"slack_token", Secret, false},
	dSlackWebhook:    {"slack_webhook", Secret, false},
	dStripeKey:       {"stripe_key", Secret, false},
	dGoogleAPIKey:    {"google_api_key", Secret, false},
	dOpenAIKey:       {"openai_api_key", Secret, false},
	dAnthropicKey:    {"anthropic_api_key", Secret, false},
	dTwilioKey:       {"twilio_api_key", Secret, false},
	dSendGridKey:     {"sendgrid_api_key", Secret, false},
	dNPMToken:        {"npm_token", Secret, false},
	dPyPIToken:       {"pypi_token", Secret, false},
	dAzureStorageKey: {"azure_storage_key", Secret, false},
	dPrivateKey:      {"private_key", Secret, false},
	dJWT:             {"jwt", Secret, false},
	dURLPassword:     {"url_password", Secret, true},
	dGenericSecret:   {"generic_secret", Secret, true},
	dEmail:           {"email", PII, false},
	dPhone:           {"phone_number", PII, false},
	dCardNumber:      {"card_number", PII, false},
	dIBAN:            {"iban", PII, false},
	dUSSSN:           {"us_ssn", PII, false},
	dUKNINO:          {"uk_nino", PII, false},
	dESDNI:           {"es_dni", PII, false},
	dITCodiceFiscale: {"it_codice_fiscale", PII, false},
	dNLBSN:           {"nl_bsn", PII, false},
	dInjectionPhrase: {"injection_phrase", Injection, false},
	dFakeDelimiter:   {"fake_delimiter", Injection, false},
	dUnicodeTags:     {"unicode_tags", Injection, false},
	dBidiControl:     {"bidi_control", Injection, false},
	dZeroWidth:       {"zero_width", Injection, false},
}

// hit is a match inside one decoded string.
type hit struct {
	det        detID
	start, end int
}
