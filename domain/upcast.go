package domain

import (
	"encoding/json"
)

// upcasters turn the JSON of one schema version of an event type into the
// next. A stored event is never rewritten: it is upcast each time it is read,
// and the chain keeps hashing the bytes as stored.
var upcasters = map[string]map[int]func([]byte) ([]byte, error){
	"case.risk_assessment_completed": {1: riskAssessmentV1toV2},
}

func upcast(typ string, version int, data []byte) ([]byte, error) {
	for v := version; ; v++ {
		up := upcasters[typ][v]
		if up == nil {
			return data, nil
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, err
		}
	}
}

// riskAssessmentV1 is case.risk_assessment_completed as first shipped: a
// "level" of low, moderate or high, no item answers and no override.
type riskAssessmentV1 struct {
	AssessmentID      string `json:"assessment_id"`
	Instrument        string `json:"instrument"`
	InstrumentVersion string `json:"instrument_version,omitempty"`
	PartyID           string `json:"party_id"`
	Informant         string `json:"informant"`
	Score             int    `json:"score"`
	Level             string `json:"level"`
}

// riskAssessmentV1toV2 renames level to band and maps "moderate" to "medium",
// the band name every instrument now shares.
func riskAssessmentV1toV2(data []byte) ([]byte, error) {
	var v1 riskAssessmentV1
	if err := strictUnmarshal(data, &v1); err != nil {
		return nil, err
	}
	band := v1.Level
	if band == "moderate" {
		band = "medium"
	}
	return json.Marshal(map[string]any{
		"assessment_id": v1.AssessmentID, "instrument": v1.Instrument,
		"instrument_version": v1.InstrumentVersion, "party_id": v1.PartyID,
		"informant": v1.Informant, "score": v1.Score, "band": band,
	})
}
